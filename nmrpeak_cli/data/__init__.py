"""Dataset preparation: clean experimental records, splits, query tables, simulated corpora.

Entry point: :func:`~nmrpeak_cli.data.prepare.prepare` (``nmrpeak data prepare``). The
prepared table's schema is :data:`~nmrpeak_cli.data.dataset.DATASET_SCHEMA` (registered as
``dataset`` in :mod:`nmrpeak_cli.schema`); MOSES molecules come from
:func:`~nmrpeak_cli.data.moses.load_moses_smiles`.
"""
