"""Errors of ``automate.models``, all under the library's root ``AutomateError``.

Tree::

    AutomateError
    └── ModelError                  a model lookup or write was refused
        ├── DoesNotExist              get() matched no row; each model has its own subclass
        │                             (``Execution.DoesNotExist``), so ``except`` can be precise
        ├── MultipleObjectsReturned   get() matched more than one row; per-model subclasses too
        └── NoLiveVersion             an execution was requested of an automation without a live workflow

Unknown field names are programming errors and raise ``TypeError`` (naming the valid fields), a
malformed id given to ``create`` raises ``ValueError``.
"""

from __future__ import annotations

from automate.errors import AutomateError

__all__ = ["DoesNotExist", "ModelError", "MultipleObjectsReturned", "NoLiveVersion"]


class ModelError(AutomateError):
    """A model lookup or write was refused."""

    code = "model"


class DoesNotExist(ModelError):
    """No row matched ``get()``; catch ``<Model>.DoesNotExist`` for one model, this for any."""

    code = "model.does_not_exist"


class MultipleObjectsReturned(ModelError):
    """More than one row matched ``get()``."""

    code = "model.multiple_objects_returned"


class NoLiveVersion(ModelError):
    """The automation has no live workflow version to pin a new execution to."""

    code = "model.no_live_version"
