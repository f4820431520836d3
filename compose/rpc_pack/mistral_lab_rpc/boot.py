"""Imported by mistral_lab_rpc.pth at every interpreter start of the Mistral image: registers an import hook
that wraps oslo.messaging's dispatcher and call context right after Mistral imports them (the rpc fault), and
keeps time.sleep working where the clock fault's libfaketime is preloaded.

It must stay cheap (every `python3` in the image pays it) and must never break an import: it imports nothing
beyond os and sys, and a failing patch is reported on stderr and skipped. MISTRAL_LAB_RPC_HOOK=0 turns it off.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every interpreter start; annotations only
    import importlib.machinery
    from typing import Any, Callable, Sequence

PATCHED_MODULES = ("oslo_messaging.rpc.dispatcher", "oslo_messaging.rpc.client")


def _patcher(fullname: str) -> Callable[[Any], None]:
    from mistral_lab_rpc import hook  # only in processes that load oslo.messaging

    return hook.patch_dispatcher if fullname.endswith("dispatcher") else hook.patch_client


def _patch(fullname: str, module: Any) -> None:
    try:
        _patcher(fullname)(module)
    except Exception as exc:  # a broken hook must not take Mistral down with it
        sys.stderr.write(f"mistral-lab rpc: cannot patch {fullname}: {exc!r}\n")


class _PatchingLoader:
    """Runs the real loader, then patches the fresh module; anything else goes to the real loader."""

    def __init__(self, loader: Any, fullname: str) -> None:
        self._loader, self._fullname = loader, fullname

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _patch(self._fullname, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class PatchFinder:
    """Finds the two oslo.messaging modules with the other finders and swaps in the patching loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if fullname not in PATCHED_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def fix_sleep_under_faketime() -> None:
    """Make time.sleep work under the clock fault's libfaketime.

    Debian bookworm's libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 turns the deadline of
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) negative, and Python 3.11's time.sleep uses exactly that:
    every sleep fails with EINVAL (libfaketime issue #426), and oslo.service's launcher dies at start. select()
    takes a relative timeout, which libfaketime passes through, and PEP 475 resumes it after signals as
    time.sleep does. Only processes that preload libfaketime (mistral-server, see entrypoint.sh) get this."""
    if "faketime" not in os.environ.get("LD_PRELOAD", "") or os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") != "1":
        return
    import select
    import time

    original = time.sleep
    if getattr(original, "__module__", "") == __name__:
        return
    blocking_select = select.select  # bound now: eventlet's monkey_patch later greens select.select

    def sleep(seconds: float) -> None:
        if not seconds >= 0:  # negative or NaN: time.sleep's own error (sleep(0) is broken too: select it)
            return original(seconds)
        blocking_select([], [], [], seconds)

    sleep.__doc__ = original.__doc__
    sleep.__module__ = __name__
    time.sleep = sleep
    # Releases before 21.0.0 run on eventlet, whose hub sleeps with patcher.original("time"): a fresh copy of
    # the C module, with the broken sleep. eventlet takes that copy from sys.modules when it is there.
    unpatched = type(sys)("time")
    unpatched.__dict__.update({k: v for k, v in time.__dict__.items() if k not in ("__name__", "__spec__")})
    sys.modules.setdefault("__original_module_time", unpatched)


def install() -> None:
    fix_sleep_under_faketime()
    if os.environ.get("MISTRAL_LAB_RPC_HOOK", "1") == "0":
        return
    if any(isinstance(f, PatchFinder) for f in sys.meta_path):
        return
    for name in PATCHED_MODULES:  # already imported (not at interpreter start, but be exact)
        if name in sys.modules:
            _patch(name, sys.modules[name])
    sys.meta_path.insert(0, PatchFinder())


install()
