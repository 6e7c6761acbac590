"""Tools that serve every task: they are not a task of their own.

- ``validation``: the input checks behind every ``ValueError`` the library raises;
- ``data``: the data sets, from 2-D toys to the digits that ship with scikit-learn;
- ``oracle``: exact noise predictors for Gaussian and Gaussian-mixture data, the ground truth
  that samplers are checked against without training;
- ``metrics``: sample-quality measures;
- ``plotting``: the small helpers the figures share.
"""
