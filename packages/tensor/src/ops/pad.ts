export {}; // implemented by its kernel issue
