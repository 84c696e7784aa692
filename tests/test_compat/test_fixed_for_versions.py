"""Each compat fix names the upstream versions it was written for. When an
upgrade moves a package outside that range, this test fails, so the fix gets
revisited (it may be unnecessary, or may need to change)."""
import pytest

from dms_mm import compat
from dms_mm.compat._version_check import check_fixed_for


@pytest.mark.parametrize('fix', compat.FIXES + compat.PER_MODEL_FIXES,
                         ids=lambda m: m.__name__.rsplit('.', 1)[-1])
def test_installed_versions_are_in_the_range_the_fix_was_written_for(fix):
    assert fix.FIXED_FOR, f'{fix.__name__} declares no FIXED_FOR range'
    problems = check_fixed_for(fix.FIXED_FOR)
    assert problems == [], (
        f'{fix.__name__} was written for {fix.FIXED_FOR}; revisit it: '
        + '; '.join(problems))


@pytest.mark.parametrize('fix', compat.FIXES + compat.PER_MODEL_FIXES,
                         ids=lambda m: m.__name__.rsplit('.', 1)[-1])
def test_every_fix_documents_problem_fix_and_versions(fix):
    doc = fix.__doc__ or ''
    for section in ('Problem:', 'Fix:', 'Versions:'):
        assert section in doc, f'{fix.__name__} docstring lacks {section!r}'
    if fix in compat.PER_MODEL_FIXES:
        assert not hasattr(fix, 'apply')  # it acts where dms_mm calls it
    else:
        assert fix.is_applied()


def test_out_of_range_is_reported():
    assert check_fixed_for({'torch': '<1.0'})[0].startswith('torch==')
    assert check_fixed_for({'surely-not-installed-dist': '>=1'}) == [
        'surely-not-installed-dist is not installed']
