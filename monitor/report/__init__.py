"""Reports of a call, built from its events alone: the HTML page (:mod:`.html`)
with its SVG timeline (:mod:`.timeline`)."""
