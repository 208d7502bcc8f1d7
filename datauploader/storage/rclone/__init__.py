"""rclone storage: ``backend`` (RcloneStorage: any remote rclone knows, through its remote
control) and ``rcd`` (the ``rclone rcd`` process and its rc HTTP API)."""
