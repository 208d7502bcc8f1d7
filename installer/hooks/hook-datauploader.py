"""PyInstaller hook for our own package.

Storage backends and catalogue clients are imported by name from the configuration
(``datauploader.storage.BACKENDS``, ``datauploader.catalogue.CATALOGUES``), which PyInstaller's
import analysis cannot see: collect every submodule. The icons and translations are package
data, read next to the modules at run time (``os.path.dirname(__file__)``), so collect them
to the same place in the bundle.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("datauploader")
datas = collect_data_files("datauploader", excludes=["**/*.ts"])
