"""Video and live streams: decoding and sampling frames, following faces across them, and the pipelines that
feed frames through the engine (`analysis` for a recorded clip, `live` for a camera session)."""
