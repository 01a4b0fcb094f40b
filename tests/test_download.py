"""Tests for fmrec.datasets.download against a local HTTP server on 127.0.0.1."""

import hashlib
import http.server
import io
import logging
import threading
import urllib.error
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmrec.datasets import DATASETS, DatasetInfo, download, load_movielens
from fmrec.exceptions import DownloadError

RATINGS = "1::10::5::978300760\n2::10::4::978300762\n"
MOVIES = "10::Heat (1995)::Action|Crime\n"


def build_ml1m_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ml-1m/", b"")
        archive.writestr("ml-1m/ratings.dat", RATINGS)
        archive.writestr("ml-1m/movies.dat", MOVIES)
    return buffer.getvalue()


class ArchiveServer:
    """HTTP server on 127.0.0.1 that serves fixed bytes and records request paths."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> "ArchiveServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def archive_bytes() -> bytes:
    return build_ml1m_zip()


@pytest.fixture
def server(
    archive_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ArchiveServer]:
    # A proxy configured in the environment must not receive the local requests.
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with ArchiveServer({"/ml-test.zip": archive_bytes}) as running:
        yield running


@pytest.fixture
def registered_dataset(
    server: ArchiveServer, archive_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> DatasetInfo:
    """Register "ml-test" in DATASETS, served by the local server."""
    info = DatasetInfo(
        "ml-test",
        server.url("/ml-test.zip"),
        "sha256",
        hashlib.sha256(archive_bytes).hexdigest(),
    )
    monkeypatch.setitem(DATASETS, "ml-test", info)
    return info


def test_download_saves_verified_zip(
    tmp_path: Path,
    server: ArchiveServer,
    registered_dataset: DatasetInfo,
    archive_bytes: bytes,
) -> None:
    path = download("ml-test", tmp_path / "home", progress=False)
    assert path == tmp_path / "home" / "ml-test.zip"
    assert path.read_bytes() == archive_bytes
    assert server.requests == ["/ml-test.zip"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["ml-test.zip"]


def test_download_cached_makes_no_request(
    tmp_path: Path,
    server: ArchiveServer,
    registered_dataset: DatasetInfo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = download("ml-test", tmp_path, progress=False)
    caplog.set_level(logging.INFO, logger="fmrec.datasets")
    second = download("ml-test", tmp_path, progress=False)
    assert second == first
    assert server.requests == ["/ml-test.zip"]
    assert "already exists" in caplog.records[-1].getMessage()


def test_download_checksum_mismatch_leaves_nothing(
    tmp_path: Path,
    server: ArchiveServer,
    registered_dataset: DatasetInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "0" * 64
    monkeypatch.setitem(
        DATASETS,
        "ml-test",
        DatasetInfo("ml-test", registered_dataset.url, "sha256", wrong),
    )
    with pytest.raises(ValueError) as caught:
        download("ml-test", tmp_path, progress=False)
    message = str(caught.value)
    assert f"expected sha256 {wrong}" in message
    assert f"got {registered_dataset.checksum}" in message
    assert list(tmp_path.iterdir()) == []


def test_url_override_keeps_checksum(tmp_path: Path, server: ArchiveServer) -> None:
    # The served archive is not the official ml-1m archive, so the pinned
    # checksum must reject it.
    with pytest.raises(ValueError, match=DATASETS["ml-1m"].checksum):
        download("ml-1m", tmp_path, progress=False, url=server.url("/ml-test.zip"))
    assert server.requests == ["/ml-test.zip"]
    assert list(tmp_path.iterdir()) == []


def test_download_md5_checksum(
    tmp_path: Path,
    server: ArchiveServer,
    archive_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = hashlib.md5(archive_bytes).hexdigest()
    info = DatasetInfo("ml-md5", server.url("/ml-test.zip"), "md5", digest)
    monkeypatch.setitem(DATASETS, "ml-md5", info)
    path = download("ml-md5", tmp_path, progress=False)
    assert path.read_bytes() == archive_bytes


def test_download_http_error_leaves_nothing(
    tmp_path: Path, server: ArchiveServer, registered_dataset: DatasetInfo
) -> None:
    with pytest.raises(DownloadError, match="failed: Not Found") as caught:
        download("ml-test", tmp_path, progress=False, url=server.url("/absent.zip"))
    assert isinstance(caught.value.__cause__, urllib.error.HTTPError)
    assert "FMREC_DATA_DIR" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_download_without_network_names_local_copy(tmp_path: Path) -> None:
    # Nothing listens on port 9 of the loopback address, so the connection fails.
    with pytest.raises(DownloadError) as caught:
        download("ml-100k", tmp_path, progress=False, url="http://127.0.0.1:9/x.zip")
    message = str(caught.value)
    assert message.startswith(
        "Downloading ml-100k from http://127.0.0.1:9/x.zip failed"
    )
    assert f"put ml-100k.zip or an unpacked ml-100k/ folder into {tmp_path}" in message
    assert list(tmp_path.iterdir()) == []


def test_download_progress_goes_to_stderr(
    tmp_path: Path,
    server: ArchiveServer,
    registered_dataset: DatasetInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    download("ml-test", tmp_path, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ml-test" in captured.err


def test_download_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown data set 'ml-nope'"):
        download("ml-nope", tmp_path, progress=False)


def test_download_rejects_non_http_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected an http or https URL"):
        download("ml-1m", tmp_path, progress=False, url="ftp://127.0.0.1/ml-1m.zip")
    assert list(tmp_path.iterdir()) == []


def test_download_uses_env_data_home(
    tmp_path: Path,
    server: ArchiveServer,
    registered_dataset: DatasetInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FMREC_DATA_DIR", str(tmp_path / "env-home"))
    path = download("ml-test", progress=False)
    assert path == tmp_path / "env-home" / "ml-test.zip"


def test_load_by_name_downloads_then_loads(
    tmp_path: Path,
    server: ArchiveServer,
    archive_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = hashlib.sha256(archive_bytes).hexdigest()
    info = DatasetInfo("ml-1m", server.url("/ml-test.zip"), "sha256", digest)
    monkeypatch.setitem(DATASETS, "ml-1m", info)
    dataset = load_movielens("ml-1m", data_dir=tmp_path)
    assert dataset.name == "ml-1m"
    assert dataset.source == str(tmp_path / "ml-1m.zip")
    assert dataset.ratings["user_id"].tolist() == [1, 2]
    assert dataset.items["title"].tolist() == ["Heat (1995)"]
    assert server.requests == ["/ml-test.zip"]

    load_movielens("ml-1m", data_dir=tmp_path)
    assert server.requests == ["/ml-test.zip"]


def test_pinned_official_archives() -> None:
    expected = {
        "ml-100k": ("md5", "0e33842e24a9c977be4e0107933c0723"),
        "ml-1m": (
            "sha256",
            "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        ),
        "ml-latest-small": (
            "sha256",
            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        ),
    }
    assert set(DATASETS) == set(expected)
    for name, (algorithm, checksum) in expected.items():
        info = DATASETS[name]
        assert info.name == name
        assert info.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert (info.checksum_algorithm, info.checksum) == (algorithm, checksum)


def test_cli_download_rejects_junk_cached_archive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    from fmrec.cli.main import main

    junk = tmp_path / "ml-100k.zip"
    junk.write_text("not an archive\n")
    assert main(["download", "ml-100k", "--data-dir", str(tmp_path)]) == 1
    assert f"{junk}: not a zip archive; delete it" in caplog.text
    assert capsys.readouterr().out == ""
    with zipfile.ZipFile(junk, "w") as archive:
        archive.writestr("ml-100k/u.data", "1\t1\t5\t0\n")
    assert main(["download", "ml-100k", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(junk)
