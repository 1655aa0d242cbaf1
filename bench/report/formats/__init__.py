"""One module per output format; importing this package registers them all (found by scanning,
so adding a format touches only its own file)."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
