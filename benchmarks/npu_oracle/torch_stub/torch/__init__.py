# Import-time stand-in for torch: rknn-toolkit2 imports torch (and torch.nn...) at module level, but its
# ONNX path (load_onnx -> build -> export_rknn) should not need it. Attributes are inert placeholder classes
# so that module-level `class X(nn.Module)` definitions import; calling one for real raises.
import importlib.abc
import importlib.machinery
import sys
import types

__version__ = "2.4.0"


class _Placeholder:
    """Inert: constructing, calling or reading attributes yields another placeholder."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Placeholder()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder()

    def __class_getitem__(cls, item):
        return cls


def _module_getattr(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (_Placeholder,), {})


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.startswith("torch."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _module_getattr
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Finder())
__getattr__ = _module_getattr
