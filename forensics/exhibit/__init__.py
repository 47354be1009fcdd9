"""Court exhibits: a bilingual PDF/A + HTML document, its machine-readable record and a hash manifest.

``build_exhibit`` (forensics exhibit) renders one from a case; ``verify_exhibit`` (forensics verify EXHIBIT_DIR)
re-derives it. See build.py for the folder layout and the exhibit digest stamped on every page.
"""

from forensics.exhibit.build import ExhibitResult, build_exhibit, render_exhibit

__all__ = ["ExhibitResult", "build_exhibit", "render_exhibit", "verify_exhibit"]


def __getattr__(name: str) -> object:
    # verify imports the packs module (and through it DuckDB); load it only when asked for.
    if name == "verify_exhibit":
        from forensics.exhibit.verify import verify_exhibit

        return verify_exhibit
    raise AttributeError(name)
