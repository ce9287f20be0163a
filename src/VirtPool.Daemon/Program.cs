// Placeholder entry point: replaced by the daemon host.
return 0;
