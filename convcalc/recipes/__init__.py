"""Known forwards: what a module class does with its printed children, as recipes in one
notation (:mod:`convcalc.recipes.notation`). The built-in recipes are data files beside this
module (``torch.recipe``: torch.nn's own classes; ``torchvision.recipe``: torchvision's blocks and
models; ``timm.recipe`` and ``efficientnet_pytorch.recipe``: those libraries' CNNs); a user's
recipes, from a file or the spec itself, are read the same way and take precedence.

>>> book = RecipeBook.builtin()
>>> book.find("SqueezeExcitation").forward is not None
True
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from importlib import resources

from ..errors import ParseError

from .notation import Recipe, read_recipes

BUILTIN_FILES = ("torch.recipe", "torchvision.recipe", "timm.recipe", "efficientnet_pytorch.recipe")

# A recipe class inside a spec: ``class Name...:`` at the start of a line, its body indented.
_CLASS_LINE = re.compile(r"class\s+[A-Za-z_]\w*\s*(\([^)]*\))?\s*:")


@lru_cache(maxsize=None)
def _builtin() -> dict[str, list[Recipe]]:
    """Each class name's built-in recipes, in file order: two libraries may name classes alike
    (torchvision's and timm's InvertedResidual), told apart by their children."""
    recipes: dict[str, list[Recipe]] = {}
    for name in BUILTIN_FILES:
        text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        for class_name, recipe in read_recipes(text, f"built-in {name}").items():
            recipe.builtin = True
            recipes.setdefault(class_name, []).append(recipe)
    return recipes


class RecipeBook:
    """The recipes in force: the built-in ones, then the user's (which replace a built-in one of
    the same class)."""

    def __init__(self, user: dict[str, Recipe] | None = None) -> None:
        self.user = dict(user or {})

    @classmethod
    def builtin(cls) -> "RecipeBook":
        return cls()

    def find(self, type_name: str, children: list[str] | None = None, _seen: tuple[str, ...] = ()) -> Recipe | None:
        """The recipe of a class (of the built-in ones of that name, the first whose children
        fit ``children``, else the first); a base that is another recipe's class fills what it
        leaves out."""
        candidates = _builtin().get(type_name, [])
        fitting = [c for c in candidates if children is None or c.fits(children)]
        recipe = self.user.get(type_name) or next(iter(fitting or candidates), None)
        if recipe is None or recipe.base is None or _is_layer(recipe.base):
            return recipe
        parent = self.find(recipe.base, None, _seen + (type_name,)) if recipe.base not in _seen + (type_name,) else None
        if parent is None:
            raise ParseError(
                f"recipe {type_name} ({recipe.where()}): its base {recipe.base} is neither a torch.nn layer "
                "nor a class with a recipe"
            )
        return replace(
            parent, name=recipe.name, origin=recipe.origin, line=recipe.line, init=parent.init + recipe.init,
            forward=recipe.forward or parent.forward, methods={**parent.methods, **recipe.methods},
            buffers=recipe.buffers or parent.buffers,
            unused=recipe.unused or parent.unused, refuse=recipe.refuse or parent.refuse,
            hidden_parameters=recipe.hidden_parameters or parent.hidden_parameters, doc=recipe.doc or parent.doc,
            children=recipe.children or parent.children, model=recipe.model or parent.model,
        )

    def adding(self, text: str, origin: str) -> "RecipeBook":
        """This book with the recipes of ``text`` added (ParseError when they are not valid)."""
        return RecipeBook({**self.user, **read_recipes(text, origin)})


def _is_layer(name: str) -> bool:
    from ..registry import layer_classes

    return name.lower() in layer_classes()


def split_recipes(text: str) -> tuple[str, str]:
    """Separate the recipe classes written inside a spec from the spec itself; both keep their
    line numbers (the lines of the other part become blank).

    >>> spec, recipes = split_recipes("class Fire:\\n    def forward(self, x):\\n        return x\\nFire(\\n)\\n")
    >>> spec.splitlines(), recipes.splitlines()[0]
    (['', '', '', 'Fire(', ')'], 'class Fire:')
    """
    lines = text.split("\n")
    in_recipe = False
    spec_lines, recipe_lines = [], []
    for line in lines:
        if _CLASS_LINE.match(line):
            in_recipe = True
        elif in_recipe and line.strip() and not line[:1].isspace():
            in_recipe = False
        spec_lines.append("" if in_recipe else line)
        recipe_lines.append(line if in_recipe else "")
    if not any(recipe_lines):
        return text, ""
    return "\n".join(spec_lines), "\n".join(recipe_lines)


__all__ = ["Recipe", "RecipeBook", "read_recipes", "split_recipes"]
