"""Test-wide setup: make this checkout importable as ``ansible_collections.nodewatch.k8s``.

Ansible resolves collection code only below a directory named
``ansible_collections/<namespace>/<name>``. A checkout can live anywhere, so a link to it is
kept under ``.build/`` (ignored by git) and put on ``sys.path`` and on
``ANSIBLE_COLLECTIONS_PATH`` for the ansible-playbook/ansible-inventory subprocesses.
"""
import logging
import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_ROOT = os.path.join(REPO_ROOT, ".build", "collections")


def _ensure_collection_link():
    namespace_dir = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "nodewatch")
    link = os.path.join(namespace_dir, "k8s")
    os.makedirs(namespace_dir, exist_ok=True)
    if not os.path.islink(link) or os.path.realpath(link) != REPO_ROOT:
        # Several pytest workers start at once: build the link aside and rename it into place.
        staging = "%s.%d" % (link, os.getpid())
        os.symlink(REPO_ROOT, staging)
        os.replace(staging, link)


_ensure_collection_link()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
os.environ["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS_ROOT


@pytest.fixture(autouse=True)
def _pristine_nodewatch_logging():
    """The daemon's main() configures the 'nodewatch' logger for a whole process (its own handler,
    no propagation), and session fixtures may call it before any test starts: every test starts
    and ends with the logger as Python makes it, so caplog sees its records."""
    logger = logging.getLogger("nodewatch")

    def reset():
        logger.handlers[:] = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True

    reset()
    yield
    reset()
