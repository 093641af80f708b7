//! Ingest: exported request logs in, canonical trace out. (Being built: issue "Ingest".)
