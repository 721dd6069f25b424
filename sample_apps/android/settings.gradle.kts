// mobilekit sample app: a Compose screen on top of a generated Android SDK module.
// NOT built by mobilekit's CI (no Android SDK or Gradle plugin there); see README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
    plugins {
        id("com.android.application") version "8.7.3"
        id("com.android.library") version "8.7.3"
        id("org.jetbrains.kotlin.android") version "2.0.21"
        id("org.jetbrains.kotlin.plugin.compose") version "2.0.21"
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mobilekit-sample"
include(":app")

// The SDK module `mobilekit generate` wrote. Default: the built-in example's
// (examples/minilm-embeddings, after `mobilekit build -c examples/minilm-embeddings/mobilekit.toml`).
// Another project: ./gradlew -Pmobilekit.sdkDir=/path/to/build/generate/android ...
// (and change the import in MainActivity.kt to that SDK's package and class).
val sdkDir = providers.gradleProperty("mobilekit.sdkDir")
    .orElse("../../examples/minilm-embeddings/build/generate/android").get()
include(":sdk")
project(":sdk").projectDir = file(sdkDir)
