# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input rules shared by the modules: user names, numbers from Jinja, refusals listing every problem."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# POSIX portable user names as Debian's useradd accepts them, without the
# trailing '$' of machine accounts: a hosted site is never a machine account.
USER_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class ProblemsError(Exception):
    """A request refused before anything changed; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(ProblemsError, self).__init__("; ".join(self.problems))


def as_int(value):
    """Accept ints and digit strings (Jinja often renders numbers as text); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*\d+\s*$", value):
        return int(value)
    return None


def named_entries(users, problems, label="users"):
    """Yield (index, where, entry) for each mapping with a valid user name not seen before.

    Every other entry adds a sentence to ``problems`` naming it, so a caller
    reports all bad entries at once. ``where`` reads like "users[3] (alice)".
    """
    first_index = {}
    for index, entry in enumerate(users):
        where = "%s[%d]" % (label, index)
        if not isinstance(entry, dict):
            problems.append("%s: expected a mapping with at least 'name', got %r" % (where, entry))
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not USER_NAME_RE.match(name):
            problems.append("%s: invalid user name %r (POSIX: lowercase letter or '_' first, then "
                            "lowercase letters, digits, '_' or '-', at most 32 characters)" % (where, name))
            continue
        where = "%s (%s)" % (where, name)
        if name in first_index:
            problems.append("%s: duplicate entry for user %r (first at %s[%d])"
                            % (where, name, label, first_index[name]))
            continue
        first_index[name] = index
        yield index, where, entry
