"""Disclosure control: every rule, the rule for each kind of result, the gate, the check.

:func:`cohort.disclosure.release.release` releases an analysis result under a
:class:`~cohort.disclosure.policy.DisclosurePolicy`; :class:`~cohort.disclosure.writer.ReleaseFolder`
is the only code that writes into a report folder; :func:`cohort.disclosure.check.check_release`
reads a report's released files on their own. Only this package reads the policy's threshold.
"""
