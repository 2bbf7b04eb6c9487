// Carries the precompiled header (see src/CMakeLists.txt).
