"""STAT: skill-targeted adaptive training (skill list, skill map, Missing-Skill-Profile, STAT-Sel, STAT-Syn)."""
