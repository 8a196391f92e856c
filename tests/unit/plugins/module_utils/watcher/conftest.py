# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging

import pytest


@pytest.fixture(autouse=True)
def _restore_nodewatch_logging():
    """daemon.main() configures the 'nodewatch' logger; give the next test (and caplog) it back."""
    logger = logging.getLogger("nodewatch")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
