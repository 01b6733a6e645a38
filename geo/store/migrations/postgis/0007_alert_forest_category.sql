-- The forest category (special_use, protection, production, forest) from the user's forest layer (issue 4).
ALTER TABLE alerts ADD COLUMN forest_category text;
