"""The six tells of generated faces that the Which Face Is Real lesson teaches, in our own words,
with which generations of StyleGAN each applies to. The lesson page renders this list and the game
offers the keys to mark "what gave the fake away"; the statistics group answers by them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Tell:
    key: str                 # Stored in the database; stable.
    name: str                # Shown to players.
    summary: str             # One line for the game's "what gave it away" buttons.
    explanation: str         # The lesson: what the artefact is and why the network makes it.
    look_for: tuple[str, ...]  # Concrete things to check.
    stylegan1: str           # How it shows in StyleGAN (v1) faces (the original game's generator).
    stylegan2: str           # How it shows in StyleGAN2 faces.
    example_seeds: tuple[int, int]  # Seeds of the example fakes drawn from the loaded network.


TELLS: tuple[Tell, ...] = (
    Tell(
        key="water_splotches",
        name="Water splotches",
        summary="A shiny blob, like a drop of water on a print",
        explanation=(
            "StyleGAN (v1) often paints a small glossy smudge that looks like a water stain on an old "
            "photographic print. It can sit anywhere in the picture, but it is easiest to spot where the hair "
            "meets the background or at the edge of the face. The blob comes from the generator's own "
            "normalisation: each layer normalises its feature maps, and the network learned to hide a strong, "
            "localised spike in them to control the overall signal strength; the spike shows through as a blob."),
        look_for=("a bright, smooth, drop-shaped patch that belongs to nothing in the scene",
                  "the same smudge repeated in the same place across several fakes"),
        stylegan1="Common: the signature artefact of the original game's faces.",
        stylegan2="Gone: StyleGAN2 replaced the normalisation by weight demodulation precisely to remove it.",
        example_seeds=(11, 29),
    ),
    Tell(
        key="hair",
        name="Hair",
        summary="Strands that float, smear or glow",
        explanation=(
            "Hair is thousands of thin, overlapping structures, far more than the network can keep consistent. "
            "Generated hair tends to look painted: strands that start or stop in mid-air, clumps that are too "
            "straight or too regularly streaked, a watercolour wash where strands should be, or a faint halo "
            "where hair meets the background."),
        look_for=("strands that are not connected to the head", "patches of hair that look brushed on",
                  "a glow or smear around the outline of the hair"),
        stylegan1="Common.",
        stylegan2="Still present, less often; the hardest tell to unlearn for the network.",
        example_seeds=(3, 47),
    ),
    Tell(
        key="asymmetry",
        name="Asymmetry",
        summary="Glasses, earrings or collar that differ left and right",
        explanation=(
            "The generator draws the left and right of a face without a strong notion that they belong to one "
            "object. Things that should match across the face often do not: the two sides of a pair of glasses "
            "take different shapes or one frame goes jagged, one earring is missing or the two differ, a collar "
            "or shirt pattern changes from one side to the other, facial hair grows differently on each cheek."),
        look_for=("the two halves of eyeglass frames", "earrings (only one, or two different ones)",
                  "collars, lapels and fabric patterns", "the two eyes' colour and highlights"),
        stylegan1="Common.",
        stylegan2="Still present; accessories such as glasses and earrings remain weak spots.",
        example_seeds=(5, 64),
    ),
    Tell(
        key="background",
        name="Background problems",
        summary="A blurry, melted or impossible background",
        explanation=(
            "Training photos are aligned on the face, so the network learned faces far better than whatever "
            "stood behind them. Backgrounds come out blurry, smeared or surreal: shapes that melt into each "
            "other, structures that cannot exist, writing that is not writing, and sometimes fragments of "
            "other faces. A real photo's background usually makes sense, even when out of focus."),
        look_for=("objects that melt or bend into each other", "text that is not legible in any language",
                  "half-formed faces or bodies beside the subject"),
        stylegan1="Common.",
        stylegan2="Still present: backgrounds improved much less than faces.",
        example_seeds=(8, 91),
    ),
    Tell(
        key="fluorescent_bleed",
        name="Fluorescent bleed",
        summary="Glowing colour leaking into the hair or face",
        explanation=(
            "Sometimes a bright, saturated, almost neon colour bleeds from the background into the hair or the "
            "skin, as if lit by a coloured lamp that is not in the picture. Real lighting colours a face "
            "consistently; the bleed is a patch of colour with no source."),
        look_for=("neon-coloured patches at the edge of the hair or face", "a colour cast with no light source"),
        stylegan1="Seen in the original game's faces.",
        stylegan2="Rarer.",
        example_seeds=(14, 73),
    ),
    Tell(
        key="teeth",
        name="Teeth",
        summary="Odd, misaligned or too many teeth",
        explanation=(
            "Teeth are small, repetitive and differ a lot between people, which makes them hard to render. "
            "Generated teeth may be oddly shaped, asymmetric or out of line, and a smile may show too many "
            "front teeth or a single tooth right on the middle of the mouth. In StyleGAN (v1) teeth also tend "
            "to stay facing the camera when the head turns (the StyleGAN2 paper traces this to progressive "
            "growing)."),
        look_for=("a tooth centred on the midline", "more front teeth than fit the mouth",
                  "teeth that face the camera while the head is turned"),
        stylegan1="Common, including teeth stuck facing the camera.",
        stylegan2="Less often: without progressive growing, teeth follow the pose; odd shapes remain.",
        example_seeds=(21, 56),
    ),
)

TELL_KEYS = tuple(t.key for t in TELLS)
# A player may also say that nothing in particular gave the fake away.
NO_TELL = "none"
MARKABLE = (*TELL_KEYS, NO_TELL)
TELL_NAMES = {**{t.key: t.name for t in TELLS}, NO_TELL: "Nothing in particular"}

# What each architecture's faces are like at a glance, for the lesson's "this network" note.
ARCH_NOTES = {
    "stylegan": "StyleGAN (v1), the generator of the original Which Face Is Real: all six tells apply.",
    "stylegan2": ("StyleGAN2: water splotches are gone and teeth follow the pose; hair, asymmetry, backgrounds "
                  "and colour bleed are still the places to look."),
    "dcgan": ("DCGAN, the 2015 baseline: its faces fail at the large scale first: lopsided faces, smeared "
              "backgrounds, features that do not line up. At low resolution, fine tells such as teeth or "
              "water splotches are too small to see."),
}

# The tells worth checking in each architecture's faces (StyleGAN2 removed the water splotches).
_HINTS = {
    "stylegan2": tuple(t for t in TELLS if t.key != "water_splotches"),
    "dcgan": tuple(t for t in TELLS if t.key in ("asymmetry", "background", "hair")),
}


def psi_note(psi: float) -> str:
    """What the fake's truncation psi means for how it looks."""
    if psi >= 0.9:
        return "barely truncated, so as varied as the network can make it, and likelier to show artefacts"
    if psi <= 0.6:
        return "strongly pulled towards the average face, which makes it smooth, symmetric and easy to trust"
    return "moderately truncated, the usual compromise between variety and clean faces"


def explain_answer(correct: bool, real_position: int, fake_seed: int, fake_psi: float, arch: str) -> str:
    """The short explanation shown when a round is revealed."""
    sides = ("left", "right")
    real_side, fake_side = sides[real_position], sides[1 - real_position]
    verdict = (f"The {real_side} face is a real photo; you spotted it." if correct
               else f"The {fake_side} face, the one you picked, was generated by the network.")
    hint = random.choice(_HINTS.get(arch, TELLS))
    return (f"{verdict} The fake is seed {fake_seed} at \u03c8 = {fake_psi:.2f}: {psi_note(fake_psi)}. "
            f"Next time, look for {hint.look_for[0]} ({hint.name.lower()}).")
