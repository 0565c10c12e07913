"""Spark for ``-P engine=spark``, ``tune -P parallelism=N`` and ``predict -P engine=spark``.

``session``: the active (cluster) or a local session, and the code its executors need;
``tables``: reading, checking, splitting and sampling a table on Spark in pandas' dtypes;
``daemon``: the Python worker daemon that imports the training stack once. Imported only by what
runs on Spark: nothing here is imported by a single-node run or by a served model.
"""
