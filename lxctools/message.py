"""Typed messages: a class per message, its fields checked, its wire form one JSON object.

The base of both protocols lxctools speaks between its own processes: the monitor's
(monitor/protocol.py: a tool and a supervisor) and a start's sync (spawn/sync.py: the
supervisor and the processes it forks). A class lists its FIELDS (name, accepted types,
default) and is the only place that knows them; a message that does not fit raises
ProtocolError, saying what is wrong, never a traceback.

Plain classes, not dataclasses: importing dataclasses costs every lxc-info and lxc-ls
(which load this module) about 5 ms. Imports nothing of ours but errors.py.
"""

from .errors import LxcError


class ProtocolError(LxcError):
    """A message that is not one of its protocol's (or not of its version)."""


class _Omit:
    """The default of a field left out of the wire form when unset."""

    def __repr__(self):
        return "OMIT"


REQUIRED = object()
OMIT = _Omit()
_NUMBER = (int, float)


def _type_names(types):
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


class Message:
    """A typed message. FIELDS: (name, type or tuple of types, default), default REQUIRED
    for a field that must be there, OMIT for one left out of the wire form when unset."""

    FIELDS = ()

    def __init__(self, **values):
        for name, types, default in self.FIELDS:
            if name in values:
                value = values.pop(name)
                _check(type(self).__name__, name, value, types)
            elif default is REQUIRED:
                raise ProtocolError(f"{self.describe()}: the field {name!r} is missing")
            else:
                value = default
            setattr(self, name, value)
        if values:
            raise ProtocolError(f"{self.describe()}: unknown field "
                                f"{', '.join(repr(k) for k in sorted(values))}")

    @classmethod
    def describe(cls):
        return getattr(cls, "CMD", None) and f"the {cls.CMD!r} request" or cls.__name__

    def to_wire(self):
        return {name: getattr(self, name) for name, _types, _default in self.FIELDS
                if getattr(self, name) is not OMIT}

    def __eq__(self, other):
        return type(self) is type(other) and self.to_wire() == other.to_wire()

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name, _t, _d in self.FIELDS)
        return f"{type(self).__name__}({fields})"


def _check(owner, name, value, types):
    types = types if isinstance(types, tuple) else (types,)
    # JSON has one number type: an int is a float's fine value; bool is not an int here
    ok = any(value is None if t is type(None) else
             (isinstance(value, t) and not (isinstance(value, bool) and t is not bool))
             for t in types)
    if not ok:
        raise ProtocolError(f"{owner}: the field {name!r} must be {_type_names(types)}, "
                            f"not {type(value).__name__}")
