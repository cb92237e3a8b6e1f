"""The credentials directory: one file per secret, 0600, replaced atomically, found by the
``${NAME}`` lookup the config uses."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from publisher.connect.vault import VaultError, shell_lines, store
from publisher.secrets import SecretSource


def test_each_secret_is_a_0600_file_the_reference_lookup_finds(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    stored = store(creds, {"MASTO_TOKEN": "tok-0123456789abcdef", "X_REFRESH": "ref-0123456789"})
    assert [s.name for s in stored] == ["MASTO_TOKEN", "X_REFRESH"]
    for s in stored:
        assert stat.S_IMODE(s.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    source = SecretSource({}, creds)
    assert source.lookup("MASTO_TOKEN", "t") == "tok-0123456789abcdef"
    assert sorted(p.name for p in creds.iterdir()) == ["MASTO_TOKEN", "X_REFRESH"]  # no temp left


def test_a_value_is_replaced_by_rename_never_rewritten_in_place(tmp_path: Path) -> None:
    store(tmp_path, {"TOKEN": "old-value-0123456789"})
    with (tmp_path / "TOKEN").open(encoding="utf-8") as reader:  # a reader holding the old file
        before = os.fstat(reader.fileno()).st_ino
        store(tmp_path, {"TOKEN": "new-value-0123456789"})
        assert reader.read() == "old-value-0123456789\n"  # what it opened stays whole
    assert (tmp_path / "TOKEN").stat().st_ino != before
    assert (tmp_path / "TOKEN").read_text() == "new-value-0123456789\n"


def test_a_write_that_cannot_finish_changes_no_file(tmp_path: Path) -> None:
    store(tmp_path, {"A": "old-a-0123456789", "B": "old-b-0123456789"})
    with pytest.raises(VaultError, match="reference name"):
        store(tmp_path, {"A": "new-a-0123456789", "not a name": "x"})
    (tmp_path / "C").mkdir()  # not a file: refused before anything is written
    with pytest.raises(VaultError, match="not a regular file"):
        store(tmp_path, {"A": "new-a-0123456789", "C": "new-c-0123456789"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A", "B", "C"]
    assert (tmp_path / "A").read_text() == "old-a-0123456789\n"
    assert (tmp_path / "B").read_text() == "old-b-0123456789\n"


def test_print_lines_quote_for_a_shell() -> None:
    assert shell_lines({"T": "it's-0123456789"}) == ["T='it'\\''s-0123456789'"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root writes into another user's directory")
def test_root_writing_into_the_services_directory_gives_it_the_directorys_owner(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 61234, 61234)  # a DynamicUser's
    [stored] = store(state, {"TOKEN": "value-0123456789"})
    st = stored.path.stat()
    assert (st.st_uid, st.st_gid) == (61234, 61234)
    assert stat.S_IMODE(st.st_mode) == 0o600
