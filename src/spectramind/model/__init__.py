"""SpectraMind model, laid out like state-spaces/mamba.

``ops/`` functional kernels (selective scan, the low-rank spectral posterior, the challenge
likelihood), ``modules/`` blocks (Mamba, AIRS CNN/GNN encoders, fusion, spectral head),
``models/`` the assembled :class:`~spectramind.model.models.spectra_model.SpectraModel`;
``data`` builds its inputs from the pipeline products, ``prior`` fits the spectral prior on
training labels, ``losses`` is the loss engine, ``train`` trains and predicts and
``checkpoint`` saves and loads (``state_dict`` + JSON, ``weights_only=True``).
"""
