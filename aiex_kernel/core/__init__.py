"""Pure logic: functions over plain data, no Dask, no SDK, no file or network I/O."""
