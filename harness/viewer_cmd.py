"""``drimcheck viewer install|status``: the Source's web viewer library (Cornerstone3D from the npm registry).

The library is fetched at set-up into a cache folder outside the work tree (:mod:`harness.viewer_lib`), never
copied into the repository; without it the viewer page answers 503 and names this command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import viewer_lib


def add_parser(sub: Any) -> None:
    """Register ``viewer install|status`` under the ``drimcheck`` subcommands ``sub``."""
    viewer = sub.add_parser("viewer", help="install the Source's web viewer library (npm) or show its state",
                            description="The reference Source's web viewer uses Cornerstone3D (MIT) from the npm "
                                        "registry, installed by `npm ci` from our package-lock.json into "
                                        f"${viewer_lib.ENV}, else $XDG_CACHE_HOME/drimcheck/viewer.")
    vsub = viewer.add_subparsers(dest="viewer_command", required=True, metavar="{install,status}")
    install = vsub.add_parser("install", help="npm ci + bundle (node and npm needed); nothing when up to date")
    install.add_argument("--folder", type=Path, default=None, help=f"install there (default: ${viewer_lib.ENV} "
                                                                   "or the XDG cache)")
    install.add_argument("--force", action="store_true", help="install again even when up to date")
    install.set_defaults(func=cmd_install)
    state = vsub.add_parser("status", help="whether the library is installed (exit 1 when not)")
    state.add_argument("--folder", type=Path, default=None)
    state.set_defaults(func=cmd_status)


def cmd_install(args: argparse.Namespace) -> int:
    try:
        done = viewer_lib.install(args.folder, force=args.force, log=lambda line: print(line, flush=True))
    except viewer_lib.InstallError as exc:
        print(f"drimcheck viewer install: {exc}", flush=True)
        return 2
    return 0 if done.ready else 2


def cmd_status(args: argparse.Namespace) -> int:
    state = viewer_lib.status(args.folder)
    print(f"viewer library ready in {state.dist}" if state.ready else state.reason, flush=True)
    return 0 if state.ready else 1
