"""Finding faces and cutting the crops the emotion model classifies."""
