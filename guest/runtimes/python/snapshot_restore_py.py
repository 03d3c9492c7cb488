"""Runtime hooks around the template's snapshot, as Lambda SnapStart offers them to Python:

    from snapshot_restore_py import register_before_snapshot, register_after_restore

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reconnect, "db.example")

Before-snapshot hooks run once, in the template, after the handler's module was imported and
before the VM is frozen (in the order registered); after-restore hooks run in every clone,
and in every reset one, before its first invocation (in the reverse order, as Lambda runs
them). A hook that raises fails the function's init (before) or the invocation (after)."""

_before = []
_after = []


def register_before_snapshot(func, *args, **kwargs):
    _before.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    _after.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return [f for f, _, _ in _before]


def get_after_restore():
    return [f for f, _, _ in _after]


def run_before_snapshot():
    for func, args, kwargs in _before:
        func(*args, **kwargs)


def run_after_restore():
    for func, args, kwargs in reversed(_after):
        func(*args, **kwargs)
