"""The public media host: where files go so that a network can fetch them from a URL.

Instagram and Threads take no uploads: they download a post's media from a public URL at the
time of the request. ``[media]`` in publisher.toml says where such files are put: a directory
the operator serves (``directory.DirectoryHost``) or an S3-compatible bucket
(``s3.S3Host``). Either one names each file by the SHA-256 of its bytes, so a retry stores
nothing twice, and fetches the URL it hands out to check the bytes served hash the same
(``served.verify_served``) before an adapter gives it to a network. ``build.open_host`` makes
the host the config asks for, for as long as the daemon runs.

Adapters see only the ``MediaHost`` protocol (``publisher.adapters.hosting``).
"""
