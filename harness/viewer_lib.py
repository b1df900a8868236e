"""The Source's viewer library (Cornerstone3D, MIT) fetched from the npm registry at set-up, never kept in the repo.

``drimcheck viewer install`` copies our ``package.json`` / ``package-lock.json`` / ``library.js``
(``simulators/source/viewer/npm``) into a cache folder outside the work tree, runs ``npm ci`` there and has
esbuild bundle ``library.js`` for the browser: ``dist/cornerstone.js`` (ES module), the decoders' web worker
``dist/decodeImageFrameWorker.js``, their WebAssembly codecs and each bundled package's licence. The
folder is ``$DRIMCHECK_VIEWER_DIR``, else ``$XDG_CACHE_HOME/drimcheck/viewer``, else
``~/.cache/drimcheck/viewer``. ``dist`` is written beside and renamed into place only when complete, so a
failed install leaves the previous one (or none) and never half a bundle; a stamp (SHA-256 of the lock
and the entry) tells whether what is installed is what the repository asks for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV = "DRIMCHECK_VIEWER_DIR"
PACKAGE = Path(__file__).resolve().parent.parent / "simulators" / "source" / "viewer" / "npm"
PACKAGE_FILES = ("package.json", "package-lock.json", "library.js", "node-shims.js")
BUNDLE, WORKER, STAMP = "cornerstone.js", "decodeImageFrameWorker.js", "installed.json"
WORKER_SOURCE = "node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js"
# node built-ins the codecs' Emscripten glue requires only when it runs under node: never in a browser
NODE_ONLY = ("fs", "path", "module", "worker_threads")
SHIMMED = ("events", "url", "crypto")  # required at load time by bundled modules: node-shims.js stands in
INSTALL_HINT = "drimcheck viewer install"
NPM_TIMEOUT_S = 900


class InstallError(RuntimeError):
    """npm or the bundler failed, or is missing; the message says what to do."""


@dataclass(frozen=True)
class LibraryStatus:
    """Whether the viewer library is ready in ``folder`` (``dist``: what the viewer serves), and why not."""

    ready: bool
    folder: Path
    reason: str = ""

    @property
    def dist(self) -> Path:
        return self.folder / "dist"


def cache_folder() -> Path:
    """Where the library is installed: ``$DRIMCHECK_VIEWER_DIR``, else the XDG cache (outside the git tree)."""
    named = os.environ.get(ENV)
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drimcheck" / "viewer"


def wanted_stamp(package: Path = PACKAGE) -> str:
    """SHA-256 over the lock file and the bundle's sources: what an install of this checkout produces."""
    digest = hashlib.sha256()
    for name in ("package-lock.json", "library.js", "node-shims.js"):
        digest.update(name.encode() + b"\0" + (package / name).read_bytes() + b"\0")
    return digest.hexdigest()


def status(folder: Path | None = None, package: Path = PACKAGE) -> LibraryStatus:
    """Ready when ``dist`` holds the bundle, the worker and a stamp matching this checkout's lock file."""
    folder = Path(folder) if folder is not None else cache_folder()
    dist = folder / "dist"
    if not (dist / BUNDLE).is_file() or not (dist / WORKER).is_file():
        return LibraryStatus(False, folder, f"the viewer library is not installed in {folder} ({INSTALL_HINT})")
    try:
        stamp = json.loads((dist / STAMP).read_text(encoding="utf-8")).get("stamp")
    except (OSError, ValueError, AttributeError):
        stamp = None
    if stamp != wanted_stamp(package):
        return LibraryStatus(False, folder, f"the viewer library in {folder} was built from another package-lock.json "
                                            f"({INSTALL_HINT} again)")
    return LibraryStatus(True, folder)


def install(folder: Path | None = None, *, force: bool = False, npm: str | None = None,
            log: Callable[[str], None] = lambda line: None, package: Path = PACKAGE) -> LibraryStatus:
    """``npm ci`` the locked packages into ``folder`` and bundle them; nothing is done when already ready
    (unless ``force``). InstallError with npm's own words when it fails."""
    folder = Path(folder) if folder is not None else cache_folder()
    if not force and status(folder, package).ready:
        log(f"viewer library already installed in {folder}")
        return status(folder, package)
    npm = npm or shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        raise InstallError("node and npm are needed to install the viewer library (apt-get install nodejs npm), "
                           f"then run {INSTALL_HINT}")
    build = folder / "build"
    build.mkdir(parents=True, exist_ok=True)
    for name in PACKAGE_FILES:
        shutil.copyfile(package / name, build / name)
    log(f"npm ci in {build}")
    # --ignore-scripts: no package's install script runs; esbuild's binary comes as its platform package
    _run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], build, "npm ci")
    staging = folder / "dist.new"
    shutil.rmtree(staging, ignore_errors=True)
    log("bundling the library with esbuild")
    _run([node, str(build / "node_modules" / "esbuild" / "bin" / "esbuild"),
          f"{BUNDLE.removesuffix('.js')}=library.js", f"{WORKER.removesuffix('.js')}={WORKER_SOURCE}",
          "--bundle", "--format=esm", "--minify", "--target=es2022", "--log-level=error",
          f"--outdir={staging}", f"--metafile={build / 'meta.json'}",
          *(f"--external:{name}" for name in NODE_ONLY), *(f"--alias:{name}=./node-shims.js" for name in SHIMMED)],
         build, "esbuild")
    _copy_wasm(build / "node_modules", staging)
    _copy_licences(build, staging)
    (staging / STAMP).write_text(json.dumps({"stamp": wanted_stamp(package)}), encoding="utf-8")
    dist = folder / "dist"
    old = folder / "dist.old"
    shutil.rmtree(old, ignore_errors=True)
    if dist.exists():
        dist.rename(old)
    staging.rename(dist)
    shutil.rmtree(old, ignore_errors=True)
    done = status(folder, package)
    log(f"viewer library ready in {done.dist}" if done.ready else done.reason)
    return done


def _run(argv: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InstallError(f"{what} did not finish within {NPM_TIMEOUT_S} s (is the npm registry reachable?)") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise InstallError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _copy_wasm(modules: Path, dist: Path) -> None:
    """The decoders' WebAssembly files, flat beside the worker (the loader's ``wasmBasePath``)."""
    for wasm in sorted((modules / "@cornerstonejs").glob("codec-*/dist/*.wasm")):
        if "encode" not in wasm.name:  # the viewer only decodes
            shutil.copyfile(wasm, dist / wasm.name)


def _copy_licences(build: Path, dist: Path) -> None:
    """The licence text of every package the bundle took code from (esbuild's metafile inputs)."""
    meta = json.loads((build / "meta.json").read_text(encoding="utf-8"))
    names: set[str] = set()
    for path in meta.get("inputs", {}):
        parts = Path(path).parts
        if "node_modules" not in parts:
            continue
        i = len(parts) - 1 - parts[::-1].index("node_modules")
        names.add("/".join(parts[i + 1:i + 3]) if parts[i + 1].startswith("@") else parts[i + 1])
    out = dist / "licenses"
    out.mkdir()
    listing = []
    for name in sorted(names):
        root = build / "node_modules" / name
        manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
        listing.append(f"{name} {manifest.get('version', '')} {manifest.get('license', 'see its files')}")
        for text in sorted(root.glob("LICEN[CS]E*")) + sorted(root.glob("COPYING*")):
            shutil.copyfile(text, out / f"{name.replace('/', '__')}.{text.name}")
    (out / "PACKAGES.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
