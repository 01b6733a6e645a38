"""What follows an alert, and what the province measures it against: the rangers' review (``review``), field
photos (``photos``), violation cases (``cases``), the register of planting lots (``planting``), progress
against the year's targets (``targets``), planning layers (``planning``) and alerts over them (``overlay``),
and exports for GIS and GPS units (``exports``)."""
