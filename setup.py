"""Packaging of dms_mm, in the manner of the OpenMMLab packages."""
import os.path as osp
import re

from setuptools import find_packages, setup

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
        'mim': parse_requirements('requirements/mminstall.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: Apache Software License',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    zip_safe=False,
)
