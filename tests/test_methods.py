"""bs.methods: the registry of inference methods, listed like every other registry."""

import bayescale as bs
from bayescale._src import engines


def test_methods_names_and_table_list_every_engine_with_its_settings():
    names = bs.methods.names()
    assert names == engines.names() and names[0] == "auto"
    table = bs.methods.table()
    assert list(table.index) == names
    assert table.loc["auto", "default"] and table["default"].sum() == 1
    assert bool(table.loc["nuts", "markov"]) and not bool(table.loc["laplace", "markov"])
    assert not bool(table.loc["map", "posterior"])
    assert table.loc["map", "settings"] == "num_starts=16"
    assert "draws=1000" in table.loc["laplace", "settings"] and "chains" not in table.loc["laplace", "settings"]


def test_every_registry_has_names_and_table():
    for registry in (bs.laws, bs.datasets, bs.priors, bs.methods):
        names, table = registry.names(), registry.table()
        assert list(table.index) == names, registry.__name__
