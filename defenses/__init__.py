"""First-party defense plugins, registered through entry points like any third-party one."""
