"""The Android SDK: Kotlin library module generation (generator.py) and Gradle-free .aar packaging (packager.py)."""
