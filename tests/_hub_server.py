"""A Hugging Face Hub stand-in on 127.0.0.1, written for the weights tests
(``python -m tests._hub_server`` serves one by hand).

It speaks the parts of the Hub protocol that ``huggingface_hub`` (2.x) and
timm use, so the real client code runs unmodified against it:

download
  ``HEAD/GET /{repo}/resolve/{revision}/{path}``: ``X-Repo-Commit``, a quoted
  ``ETag`` (git blob oid), ``Content-Length``, ``Range``. Large/binary ("LFS")
  files answer with a 302 to a *different origin* (``localhost`` instead of
  ``127.0.0.1``), carrying ``X-Linked-Etag`` (the sha256) and
  ``X-Linked-Size`` exactly as the Hub's CDN redirect does, so the client
  takes the metadata from the redirect and drops the auth header.
  Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``), which the client maps to its typed errors.
info
  ``GET /api/models/{repo}[/revision/{rev}]`` (model info with siblings).
upload
  ``POST /api/repos/create``, ``POST /api/models/{repo}/branch/{name}``,
  ``POST /api/validate-yaml``, ``POST /api/models/{repo}/preupload/{rev}``
  and the NDJSON ``POST /api/models/{repo}/commit/{rev}`` used by
  ``create_commit``/``upload_folder``. Preupload answers ``regular`` for
  every file, so content travels base64 inline in the commit (a mode the
  real Hub uses for small files); the LFS/Xet transfer is not emulated.

``GET /static/<name>`` serves plain files (``static``) for URL weight sources;
names in ``truncated`` are cut short mid-body.

Writes need ``Authorization: Bearer <token>`` with a token from ``tokens``;
private repos need one to be read. Test knobs: ``corrupt(sha256)`` serves
flipped bytes for a blob, ``stop()`` takes the hub down.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".onnx", ".h5", ".msgpack")
LFS_MIN_SIZE = 10 * 1024 * 1024


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str, data: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    # commit sha -> {path: bytes}
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        if revision in self.commits:
            return revision
        return None


class FakeHub:
    """State plus a threaded HTTP server. Use as a context manager or call start/stop."""

    def __init__(self, tokens: set[str] | None = None, cdn_host: str = "localhost") -> None:
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 -> bytes (the "CDN")
        self.tokens = set(tokens or ())
        self.corrupted: set[str] = set()
        # plain files under /static/<name>, for http(s):// weight sources
        self.static: dict[str, bytes] = {}
        self.truncated: set[str] = set()  # static names sent cut short
        self.cdn_host = cdn_host
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.commit_payloads: list[list[dict[str, Any]]] = []
        self._lock = threading.RLock()
        self._connections: set[socket.socket] = set()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take the hub down: stop listening and cut open keep-alive connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._connections.clear()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- content -------------------------------------------------------------
    def create_repo(self, repo_id: str, private: bool = False) -> Repo:
        with self._lock:
            repo = self.repos.get(repo_id)
            if repo is None:
                repo = Repo(repo_id, private=private)
                self.repos[repo_id] = repo
                self._commit(repo, {}, "initial commit", "main")
            return repo

    def commit(self, repo_id: str, files: dict[str, bytes], *, branch: str = "main",
               message: str = "upload", deletions: tuple[str, ...] = ()) -> str:
        """Add or replace ``files`` on ``branch``; returns the new commit sha."""
        with self._lock:
            repo = self.create_repo(repo_id)
            return self._commit(repo, files, message, branch, deletions)

    def tag(self, repo_id: str, tag: str, revision: str = "main") -> str:
        with self._lock:
            repo = self.repos[repo_id]
            sha = repo.resolve(revision)
            assert sha is not None, revision
            repo.tags[tag] = sha
            return sha

    def corrupt(self, sha256: str) -> None:
        """Serve flipped bytes for this blob while still announcing its sha256."""
        self.corrupted.add(sha256)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        sha = repo.resolve(revision)
        assert sha is not None
        return dict(repo.commits[sha])

    def _commit(self, repo: Repo, files: dict[str, bytes], message: str, branch: str,
                deletions: tuple[str, ...] = ()) -> str:
        parent = repo.branches.get(branch)
        tree = dict(repo.commits[parent]) if parent else {}
        for path in deletions:
            tree.pop(path, None)
        tree.update(files)
        for data in files.values():
            self.blobs[hashlib.sha256(data).hexdigest()] = data
        self._counter += 1
        seed = f"{repo.repo_id}\n{parent}\n{message}\n{self._counter}\n" + "".join(
            f"{p}:{git_oid(d)}\n" for p, d in sorted(tree.items())
        )
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = tree
        repo.branches[branch] = sha
        return sha

    def authorized(self, headers: Any) -> bool:
        auth = headers.get("Authorization") or ""
        return auth.startswith("Bearer ") and auth[len("Bearer "):] in self.tokens


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_WRITE = re.compile(
    r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit|branch)/(?P<rev>[^/]+)$"
)


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def setup(self) -> None:
        super().setup()
        self.hub._connections.add(self.connection)

    def finish(self) -> None:
        self.hub._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # -- helpers ---------------------------------------------------------------
    def _record(self) -> None:
        self.hub.requests.append((self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()}))

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers, "application/json")

    def _error(self, status: int, code: str | None, message: str,
               headers: dict[str, str] | None = None) -> None:
        h = dict(headers or {})
        if code:
            h["X-Error-Code"] = code
        h["X-Error-Message"] = message
        self._json(status, {"error": message}, h)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _repo_for_read(self, repo_id: str) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.private and not self.hub.authorized(self.headers):
            # the Hub does not reveal that a private repo exists
            self._error(401, "RepoNotFound", "Repository not found")
            return None
        return repo

    # -- verbs -----------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._record()
        self._route_get()

    def do_GET(self) -> None:
        self._record()
        self._route_get()

    def do_POST(self) -> None:
        self._record()
        path = urlsplit(self.path).path
        body = self._body()
        with self.hub._lock:
            if path == "/api/validate-yaml":
                self._json(200, {"errors": [], "warnings": []})
                return
            if not self.hub.authorized(self.headers):
                self._error(401, None, "Invalid credentials in Authorization header")
                return
            if path == "/api/repos/create":
                self._create_repo(json.loads(body or b"{}"))
                return
            m = _WRITE.match(path)
            if m is None:
                self._error(404, None, f"no route for POST {path}")
                return
            repo = self.hub.repos.get(unquote(m["repo"]))
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return
            rev = unquote(m["rev"])
            if m["op"] == "branch":
                self._create_branch(repo, rev, json.loads(body or b"{}"))
            elif m["op"] == "preupload":
                self._preupload(repo, rev, json.loads(body))
            else:
                self._commit(repo, rev, body)

    # -- GET routes --------------------------------------------------------------
    def _route_get(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        if path.startswith("/cdn/"):
            self._serve_blob(path[len("/cdn/"):])
            return
        if path.startswith("/static/"):
            self._serve_static(unquote(path[len("/static/"):]))
            return
        with self.hub._lock:
            m = _INFO.match(path)
            if m is not None:
                self._model_info(unquote(m["repo"]), unquote(m["rev"] or "main"))
                return
            m = _RESOLVE.match(path)
            if m is not None:
                self._resolve(unquote(m["repo"]), unquote(m["rev"]), unquote(m["path"]))
                return
        self._error(404, None, f"no route for {self.command} {path}")

    def _commit_for_read(self, repo_id: str, revision: str):
        """(repo, commit sha), or None after answering the error."""
        repo = self._repo_for_read(repo_id)
        if repo is None:
            return None
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return repo, sha

    def _model_info(self, repo_id: str, revision: str) -> None:
        found = self._commit_for_read(repo_id, revision)
        if found is None:
            return
        repo, sha = found
        files = repo.commits[sha]
        self._json(200, {
            "id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private,
            "siblings": [{"rfilename": p, "size": len(d)} for p, d in sorted(files.items())],
            "tags": [], "downloads": 0, "likes": 0,
        })

    def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
        found = self._commit_for_read(repo_id, revision)
        if found is None:
            return
        repo, sha = found
        data = repo.commits[sha].get(filename)
        if data is None:
            self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}",
                        {"X-Repo-Commit": sha})
            return
        common = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if is_lfs(filename, data):
            digest = hashlib.sha256(data).hexdigest()
            host = self.headers.get("Host", "").split(":")[-1]
            location = f"http://{self.hub.cdn_host}:{host or self.hub.port}/cdn/{digest}"
            self._send(302, b"", {
                **common, "Location": location, "ETag": f'"{git_oid(data)}"',
                "X-Linked-Etag": f'"{digest}"', "X-Linked-Size": str(len(data)),
                "Content-Length": "0",
            })
            return
        self._serve_bytes(data, {**common, "ETag": f'"{git_oid(data)}"'})

    def _serve_blob(self, digest: str) -> None:
        data = self.hub.blobs.get(digest)
        if data is None:
            self._error(404, None, "blob not found")
            return
        if digest in self.hub.corrupted:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        self._serve_bytes(data, {"ETag": f'"{digest}"', "Accept-Ranges": "bytes"})

    def _serve_static(self, name: str) -> None:
        data = self.hub.static.get(name)
        if data is None:
            self._error(404, None, "not found")
            return
        if name in self.hub.truncated:
            # announce the full length, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self._serve_bytes(data, {})

    def _serve_bytes(self, data: bytes, headers: dict[str, str]) -> None:
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m is None:
            self._send(200, data, headers)
            return
        start = int(m[1])
        end = int(m[2]) if m[2] else len(data) - 1
        if start >= len(data):
            self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            return
        chunk = data[start:end + 1]
        self._send(206, chunk, {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"})

    # -- POST routes -------------------------------------------------------------
    def _create_repo(self, payload: dict[str, Any]) -> None:
        name, org = payload.get("name"), payload.get("organization")
        repo_id = f"{org}/{name}" if org else str(name)
        if repo_id in self.hub.repos:
            # the Hub's conflict answer still carries the url; create_repo(exist_ok) reads it
            self._json(409, {"error": "You already created this model repo",
                             "url": f"{self.hub.url}/{repo_id}"})
            return
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self.hub.create_repo(repo_id, private=private)
        self._json(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def _create_branch(self, repo: Repo, branch: str, payload: dict[str, Any]) -> None:
        if branch in repo.branches:
            self._error(409, None, f"Branch {branch} already exists")
            return
        start = repo.resolve(payload.get("startingPoint") or "main")
        if start is None:
            self._error(404, "RevisionNotFound", "Invalid starting point")
            return
        repo.branches[branch] = start
        self._json(200, {})

    def _preupload(self, repo: Repo, revision: str, payload: dict[str, Any]) -> None:
        sha = repo.resolve(revision)
        tree = repo.commits[sha] if sha else {}
        out = []
        for f in payload.get("files", []):
            existing = tree.get(f["path"])
            out.append({
                "path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                "oid": git_oid(existing) if existing is not None else None,
            })
        self._json(200, {"files": out, "commitOid": sha})

    def _commit(self, repo: Repo, revision: str, body: bytes) -> None:
        if revision not in repo.branches:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        self.hub.commit_payloads.append(lines)
        files: dict[str, bytes] = {}
        deletions: list[str] = []
        message = "upload"
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary") or message
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                blob = self.hub.blobs.get(value["oid"])
                if blob is None:
                    self._error(422, None, f"LFS object {value['oid']} was never uploaded")
                    return
                files[value["path"]] = blob
            elif key in ("deletedFile", "deletedFolder"):
                deletions.append(value["path"])
        sha = self.hub._commit(repo, files, message, revision, tuple(deletions))
        self._json(200, {
            "commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{sha}", "commitOid": sha,
            "success": True, "pullRequestUrl": None,
        })


def main() -> None:
    """``python -m tests._hub_server [--port N] [--token T]``: serve an empty hub to try
    ``zoo pull``/``zoo push`` by hand with ``HF_ENDPOINT`` pointing at it."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="hf_local")
    args = parser.parse_args()
    hub = FakeHub(tokens={args.token})
    hub.port = args.port
    hub.start()
    print(f"HF_ENDPOINT={hub.url}  (write token: {args.token})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
