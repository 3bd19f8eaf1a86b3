"""First-party attack plugins, registered through entry points like any third-party one."""
