"""``[media]``: the public host in exactly one of its two forms, errors at file:line:col, the
S3 keys as Secrets that never print."""

from __future__ import annotations

from datetime import timedelta

import pytest

from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError, Severity
from publisher.secrets import Secret, SecretSource
from tests.conftest import Project

KEY_ID = "AKIAMEDIAHOSTKEYID01"
SECRET_KEY = "media-host-secret-canary-0123456789abcdef"
ENV = {"S3_KEY_ID": KEY_ID, "S3_SECRET": SECRET_KEY}


def load(
    project: Project,
    media: str,
    environ: dict[str, str] | None = None,
    policy: SecretPolicy = SecretPolicy.REQUIRE,
) -> Config:
    project.extra = media
    project.write_config()
    source = SecretSource(dict(ENV if environ is None else environ), None)
    return load_config(project.config_path, secrets=policy, source=source)


def errors(project: Project, media: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InvalidFileError) as info:
        load(project, media, environ)
    lines = project.config_path.read_text().splitlines()
    out = []
    for d in info.value.diagnostics:
        assert d.severity is Severity.ERROR
        assert 1 <= d.line <= len(lines)
        out.append(f"{d.line}:{d.column}:{d.field}: {d.message}")
    return out


def line_of(project: Project, text: str) -> int:
    return next(
        i for i, line in enumerate(project.config_path.read_text().splitlines(), 1) if text in line
    )


def test_a_served_directory(project: Project) -> None:
    config = load(
        project,
        '\n[media]\npublic_dir = "public"\npublic_base_url = "https://media.example.org/p"\n',
    )
    assert config.media.public_dir == "public"
    assert config.media.public_base_url == "https://media.example.org/p/"
    assert config.media.s3 is None
    assert config.media.secrets() == []


def test_a_bucket_with_presigned_urls(project: Project) -> None:
    config = load(
        project,
        "\n[media.s3]\n"
        'bucket = "brand-media"\nendpoint_url = "http://127.0.0.1:9000"\nregion = "eu-west-3"\n'
        'access_key_id = "${S3_KEY_ID}"\nsecret_access_key = "${S3_SECRET}"\n'
        'prefix = "publisher/"\npresign = "1h"\n',
    )
    s3 = config.media.s3
    assert s3 is not None
    assert s3.presign == timedelta(hours=1)
    assert s3.endpoint_url == "http://127.0.0.1:9000/"
    assert isinstance(s3.secret_access_key, Secret)
    assert s3.secret_access_key.reveal() == SECRET_KEY
    assert s3.access_key_id.reveal() == KEY_ID
    assert SECRET_KEY not in repr(config) and KEY_ID not in repr(config)
    assert SECRET_KEY not in s3.model_dump_json()
    assert config.secrets()[-2:] == [s3.access_key_id, s3.secret_access_key]


def test_both_forms_are_refused_where_written(project: Project) -> None:
    found = errors(
        project,
        '\n[media]\npublic_dir = "public"\npublic_base_url = "https://m.example.org/"\n'
        '\n[media.s3]\nbucket = "brand-media"\naccess_key_id = "${S3_KEY_ID}"\n'
        'secret_access_key = "${S3_SECRET}"\npublic_base_url = "https://cdn.example.org/"\n',
    )
    assert found == [
        f"{line_of(project, 'public_dir')}:1:media.public_dir: give either public_dir and "
        "public_base_url, or [media.s3], not both"
    ]


@pytest.mark.parametrize(
    ("media", "field", "message"),
    [
        ('public_dir = "public"', "media.public_dir", "needs public_base_url"),
        ('public_base_url = "https://m.example.org/"', "media.public_base_url", "needs public_dir"),
        ('public_dir = "p"\npublic_base_url = "ftp://x/"', "media.public_base_url", "not an http"),
        ('public_dir = "p"\npublic_base_url = "https://x/?a=1"', "media.public_base_url", "not an"),
    ],
)
def test_a_directory_needs_its_url(project: Project, media: str, field: str, message: str) -> None:
    (found,) = errors(project, f"\n[media]\n{media}\n")
    key = field.split(".")[-1]
    assert found.startswith(f"{line_of(project, key + ' =')}:1:{field}: ")
    assert message in found


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("", "media.s3", "exactly one"),
        ('public_base_url = "https://cdn.example.org/"\npresign = "1h"', "media.s3", "exactly one"),
        ('presign = "8d"', "media.s3.presign", "less than or equal"),
        ('presign = "0s"', "media.s3.presign", "longer than 0s"),
        ('presign = "1h"\nprefix = "/abs"', "media.s3.prefix", "should match"),
        ('presign = "1h"\nendpoint = "x"', "media.s3.endpoint", "unknown key"),
    ],
)
def test_a_bucket_is_checked(project: Project, extra: str, field: str, message: str) -> None:
    found = errors(
        project,
        '\n[media.s3]\nbucket = "brand-media"\naccess_key_id = "${S3_KEY_ID}"\n'
        f'secret_access_key = "${{S3_SECRET}}"\n{extra}\n',
    )
    assert len(found) == 1, found
    line, _col, where, text = found[0].split(":", 3)
    assert where == field
    assert message in text
    key = field.split(".")[-1]
    assert int(line) == line_of(project, "[media.s3]" if key == "s3" else key + " =")


def test_a_bad_bucket_name(project: Project) -> None:
    (found,) = errors(
        project,
        '\n[media.s3]\nbucket = "Brand_Media"\naccess_key_id = "${S3_KEY_ID}"\n'
        'secret_access_key = "${S3_SECRET}"\npresign = "1h"\n',
    )
    assert found.startswith(f"{line_of(project, 'bucket =')}:1:media.s3.bucket: ")


def test_a_missing_key_is_an_error_live_and_a_warning_in_a_dry_run(project: Project) -> None:
    media = (
        '\n[media.s3]\nbucket = "brand-media"\naccess_key_id = "${S3_KEY_ID}"\n'
        'secret_access_key = "${S3_SECRET}"\npresign = "1h"\n'
    )
    (found,) = errors(project, media, {"S3_KEY_ID": KEY_ID})
    assert found.startswith(f"{line_of(project, 'secret_access_key')}:1:media.s3.secret_access_key")
    assert "${S3_SECRET} is not set" in found
    config = load(project, media, {"S3_KEY_ID": KEY_ID}, SecretPolicy.WARN)
    assert [w.field for w in config.warnings] == ["media.s3.secret_access_key"]
    assert config.media.s3 is not None and not config.media.s3.secret_access_key.resolved


def test_a_reference_inside_a_value_is_refused(project: Project) -> None:
    (found,) = errors(
        project,
        '\n[media.s3]\nbucket = "brand-media"\naccess_key_id = "key-${S3_KEY_ID}"\n'
        'secret_access_key = "${S3_SECRET}"\npresign = "1h"\n',
    )
    assert "media.s3.access_key_id: a ${NAME} reference must be the whole value" in found


def test_a_missing_key_is_reported_with_the_other_errors(project: Project) -> None:
    found = errors(
        project,
        '\n[media.s3]\nbucket = "brand-media"\naccess_key_id = "${S3_KEY_ID}"\n'
        'secret_access_key = "${S3_SECRET}"\npresign = "1h"\n\n[log]\nlevel = "loud"\n',
        {"S3_KEY_ID": KEY_ID},
    )
    assert [f.split(":")[2] for f in found] == ["media.s3.secret_access_key", "log.level"]
