"""Whole collections (folders, globs, manifests, buckets) analysed into tables: `sources` lists the inputs,
`schema` defines the tables, `parts` writes them resumably, and the job runs each source through the engine."""
