"""Curated allowlist profiles: the classes and functions that well-known libraries' own pickles name.

A policy switches profiles on with `pickle.allow_profiles: [sklearn, gensim, ...]`; their entries then count as
`pickle.allow_globals` entries would. An entry is here only when unpickling it runs no code beyond building
data: a class whose construction (`__reduce__` target, `__new__`) and `__setstate__` only assign attributes or
parse bytes the pickle holds into the same kind of object (xgboost and LightGBM boosters parse their model
text or buffer natively: data, not code), or a function that only computes on its arguments. Nothing that
loads another file or pickle, imports by name, calls a callable taken from its arguments at load time, or
reaches the system; so never a module wildcard, since modules also hold loaders and downloaders. Every entry
is still checked against the deny set (WG502): a profile cannot lift a denied global, and a test holds them
apart. Callables a class stores (a tokenizer, a scorer) are globals of the same pickle and are judged on their
own.

No sklearn-crfsuite profile: every CRF pickle holds a `sklearn_crfsuite._fileresource.FileResource`, whose
`__setstate__` takes `name`, `auto` and `fd` from the pickle and whose `__del__` then closes that descriptor and
unlinks that path: a pickle can delete any file the loader may. It stays WG501.

What a profile cannot vouch for is what the library does after unpickling: gensim's `SaveLoad.load` then reads
the sibling `.npy` files the object names (scan them with the model), and xgboost/LightGBM estimators are
only as safe as the booster bytes, which their native parsers read.
"""

from __future__ import annotations

from collections.abc import Iterable

from weightgate.formats.pickle_allowlist import denied_family

# numpy beyond the array and dtype reconstructors the built-in list has.
_NUMPY = (
    # Scalar types: their pickles are numpy.core.multiarray.scalar(dtype, bytes); the classes themselves are
    # named by older pickles and by objects that store a type (gensim's vector dtype).
    *(f"numpy.{name}" for name in (
        "float16", "float32", "float64", "longdouble", "complex64", "complex128", "int8", "int16", "int32",
        "int64", "uint8", "uint16", "uint32", "uint64", "bool_", "str_", "bytes_", "object_", "datetime64",
        "timedelta64",
    )),
    # ndarray subclasses whose __array_finalize__ / __setstate__ only set array state and mask.
    "numpy.matrixlib.defmatrix.matrix", "numpy.ma.core.MaskedArray", "numpy.ma.core._mareconstruct",
    # Random generators: the ctor functions build a generator by bit-generator *name* (a string looked up in
    # numpy's own table; numpy >= 1.25 also accepts a ctor global, which is judged on its own) and
    # __setstate__ sets the integer state.
    "numpy.random.__RandomState_ctor", "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__generator_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random.mtrand.RandomState", "numpy.random._generator.Generator",
    "numpy.random._mt19937.MT19937", "numpy.random._pcg64.PCG64", "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
)

# scikit-learn: estimators inherit BaseEstimator.__setstate__, which pops `_sklearn_version`, warns on a
# mismatch and updates __dict__. Cython helpers restore arrays in __setstate__ (Tree, KDTree, BallTree,
# the SGD loss objects rebuilt from their parameters).
_SKLEARN_ESTIMATORS = {
    "linear_model._logistic": ("LogisticRegression", "LogisticRegressionCV"),
    "linear_model._base": ("LinearRegression",),
    "linear_model._ridge": ("Ridge", "RidgeClassifier", "RidgeCV", "RidgeClassifierCV"),
    "linear_model._coordinate_descent": ("Lasso", "ElasticNet", "LassoCV", "ElasticNetCV"),
    "linear_model._stochastic_gradient": ("SGDClassifier", "SGDRegressor"),
    "linear_model._perceptron": ("Perceptron",),
    "linear_model._passive_aggressive": ("PassiveAggressiveClassifier",),
    "svm._classes": ("SVC", "SVR", "LinearSVC", "LinearSVR", "NuSVC", "NuSVR", "OneClassSVM"),
    "tree._classes": ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
                      "ExtraTreeRegressor"),
    "ensemble._forest": ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                         "ExtraTreesRegressor"),
    "ensemble._gb": ("GradientBoostingClassifier", "GradientBoostingRegressor"),
    "ensemble._weight_boosting": ("AdaBoostClassifier", "AdaBoostRegressor"),
    "ensemble._iforest": ("IsolationForest",),
    "naive_bayes": ("GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB"),
    "neighbors._classification": ("KNeighborsClassifier",),
    "neighbors._regression": ("KNeighborsRegressor",),
    "neighbors._unsupervised": ("NearestNeighbors",),
    "cluster._kmeans": ("KMeans", "MiniBatchKMeans"),
    "decomposition._pca": ("PCA",),
    "decomposition._truncated_svd": ("TruncatedSVD",),
    "decomposition._nmf": ("NMF",),
    "preprocessing._data": ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer"),
    "preprocessing._label": ("LabelEncoder", "LabelBinarizer", "MultiLabelBinarizer"),
    "preprocessing._encoders": ("OneHotEncoder", "OrdinalEncoder"),
    "impute._base": ("SimpleImputer",),
    "feature_extraction.text": ("CountVectorizer", "TfidfVectorizer", "TfidfTransformer", "HashingVectorizer"),
    "feature_extraction._dict_vectorizer": ("DictVectorizer",),
    "pipeline": ("Pipeline", "FeatureUnion"),
    "compose._column_transformer": ("ColumnTransformer",),
    "model_selection._search": ("GridSearchCV", "RandomizedSearchCV"),
    "multiclass": ("OneVsRestClassifier", "OneVsOneClassifier"),
    "calibration": ("CalibratedClassifierCV",),
    # Containers: Bunch.__setstate__ does nothing (its keys are dict items); sklearn.datasets.base is the
    # path before 0.24.
    "utils._bunch": ("Bunch",),
    "utils": ("Bunch",),
    "datasets.base": ("Bunch",),
    "tree._tree": ("Tree",),
    "neighbors._kd_tree": ("KDTree",),
    "neighbors._ball_tree": ("BallTree",),
    "linear_model._sgd_fast": ("Hinge", "Log", "ModifiedHuber", "SquaredLoss", "Huber",
                               "EpsilonInsensitive", "SquaredHinge", "SquaredEpsilonInsensitive"),
    "_loss.loss": ("HalfBinomialLoss", "HalfMultinomialLoss", "HalfSquaredError", "AbsoluteError",
                   "HalfPoissonLoss", "ExponentialLoss", "PinballLoss", "HuberLoss"),
    "_loss.link": ("IdentityLink", "LogitLink", "LogLink", "MultinomialLogit", "Interval"),
    "_loss._loss": ("CyHalfBinomialLoss", "CyHalfMultinomialLoss", "CyHalfSquaredError", "CyAbsoluteError",
                    "CyHalfPoissonLoss", "CyExponentialLoss", "CyPinballLoss", "CyHuberLoss"),
}
_SKLEARN = tuple(f"sklearn.{module}.{name}" for module, names in _SKLEARN_ESTIMATORS.items() for name in names)

# gensim: SaveLoad subclasses without __setstate__ (plain __dict__ updates; rpmodel's only sets a flag), their
# vocabulary records, and the pure functions models store as scoring/weighting hooks. `builtins.hash` is
# Word2Vec's default hashfxn.
_GENSIM_CLASSES = {
    "corpora.dictionary": ("Dictionary",),
    "models.word2vec": ("Word2Vec", "Vocab", "Word2VecVocab", "Word2VecTrainables"),
    "models.doc2vec": ("Doc2Vec", "Doctag", "DocvecsArray", "Doc2VecVocab", "Doc2VecTrainables", "TaggedDocument"),
    "models.fasttext": ("FastText", "FastTextVocab", "FastTextTrainables", "FastTextKeyedVectors"),
    "models.keyedvectors": ("KeyedVectors", "Vocab", "Word2VecKeyedVectors", "Doc2VecKeyedVectors",
                            "EuclideanKeyedVectors", "FastTextKeyedVectors", "WordEmbeddingsKeyedVectors",
                            "BaseKeyedVectors", "CompatVocab"),
    "models.wrappers.fasttext": ("FastText", "FastTextKeyedVectors"),
    "models.ldamodel": ("LdaModel", "LdaState"),
    "models.ldamulticore": ("LdaMulticore",),
    "models.ldaseqmodel": ("LdaSeqModel", "sslm"),
    "models.atmodel": ("AuthorTopicModel", "AuthorTopicState"),
    "models.lsimodel": ("LsiModel", "Projection"),
    "models.rpmodel": ("RpModel",),
    "models.nmf": ("Nmf",),
    "models.hdpmodel": ("HdpModel", "SuffStats"),
    "models.tfidfmodel": ("TfidfModel", "df2idf", "smartirs_wlocal", "smartirs_wglobal", "smartirs_normalize"),
    "models.phrases": ("Phrases", "Phraser", "FrozenPhrases", "original_scorer", "npmi_scorer"),
    "models.poincare": ("PoincareModel", "PoincareKeyedVectors", "NegativesBuffer"),
    "models.ensemblelda": ("EnsembleLda", "CBDBSCAN", "Cluster", "Topic", "mass_masking"),
    "utils": ("identity", "call_on_class_only"),  # `return x`; raise AttributeError
}
_GENSIM = (*(f"gensim.{module}.{name}" for module, names in _GENSIM_CLASSES.items() for name in names),
           "builtins.hash")

# xgboost: Booster.__setstate__ hands the pickled raw model buffer to XGBoosterUnserializeFromBuffer; the
# sklearn wrappers are BaseEstimator subclasses holding a Booster.
_XGBOOST = ("xgboost.core.Booster", *(f"xgboost.sklearn.{name}" for name in (
    "XGBModel", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor",
)))

# LightGBM: Booster.__setstate__ parses the pickled model string with LGBM_BoosterLoadModelFromString.
_LIGHTGBM = ("lightgbm.basic.Booster", *(f"lightgbm.sklearn.{name}" for name in (
    "LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker",
)))

# TorchScript archives (torch.jit.save): data.pkl names the archive's own TorchScript classes under
# `__torch__`, whose definitions are the archive's code/ members. torch.jit.load compiles those in
# TorchScript's restricted language (no Python, no imports) and the C++ unpickler instantiates them; a class
# __setstate__ written in TorchScript runs at load. Switching this profile on accepts that TorchScript code.
_TORCHSCRIPT = ("__torch__.*",)

PROFILES: dict[str, tuple[str, ...]] = {
    "numpy": _NUMPY,
    "sklearn": _SKLEARN,
    "gensim": _GENSIM,
    "xgboost": _XGBOOST,
    "lightgbm": _LIGHTGBM,
    "torchscript": _TORCHSCRIPT,
}


def profile_globals(names: Iterable[str]) -> tuple[str, ...]:
    """The allowlist entries of the named profiles (unknown names are the policy loader's to refuse)."""
    return tuple(entry for name in names for entry in PROFILES.get(name, ()))


def denied_profile_entries() -> list[str]:
    """Profile entries the deny set covers: must stay empty (tested); `is_allowlisted` refuses them anyway."""
    return [entry for entries in PROFILES.values() for entry in entries
            if denied_family(entry.removesuffix(".*")) is not None]
