"""Packaging of dms_mm, in the manner of the OpenMMLab packages."""
import os
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# What mim and mmengine look for in ``dms_mm/.mim``: ``dms_mm::`` configs resolve to
# ``dms_mm/.mim/configs``. In the repository these are links to the top-level folders
# (so an editable install sees the checkout); a built package gets copies.
MIM_FILES = ('configs', 'tools', 'model-index.yml')

HERE = osp.dirname(osp.abspath(__file__))


def read_version():
    """Read ``__version__`` from ``dms_mm/version.py`` without importing it."""
    with open(osp.join(HERE, 'dms_mm', 'version.py'), encoding='utf-8') as f:
        match = re.search(r"^__version__ = '([^']+)'", f.read(), re.M)
    if match is None:
        raise RuntimeError('dms_mm/version.py defines no __version__')
    return match.group(1)


def parse_requirements(fname):
    """Read a requirements file: one specifier a line, ``#`` starts a comment."""
    requirements = []
    with open(osp.join(HERE, fname), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                requirements.append(line)
    return requirements


class BuildPyWithMim(build_py):
    """``build_py`` that also copies configs, tools and model-index.yml into .mim."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return  # the package stays in the checkout, and its .mim links work
        mim_dir = osp.join(self.build_lib, 'dms_mm', '.mim')
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
            if osp.islink(dst) or osp.isfile(dst):
                os.remove(dst)
            elif osp.isdir(dst):
                shutil.rmtree(dst)
            os.makedirs(mim_dir, exist_ok=True)
            if osp.isdir(src):
                shutil.copytree(
                    src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                shutil.copyfile(src, dst)


def readme():
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


setup(
    name='dms_mm',
    version=read_version(),
    description='Differentiable Model Scaling (DMS) for MMEngine and MMRazor',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    include_package_data=True,
    python_requires='>=3.8',
    license='Apache License 2.0',
    install_requires=(parse_requirements('requirements/runtime.txt') +
                      parse_requirements('requirements/mminstall.txt')),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'benchmarks': parse_requirements('requirements/benchmarks.txt'),
        'deploy': parse_requirements('requirements/deploy.txt'),
        'llm': parse_requirements('requirements/llm.txt'),
        'mim': parse_requirements('requirements/mminstall.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: Apache Software License',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
