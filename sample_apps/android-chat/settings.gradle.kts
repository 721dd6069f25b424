// mobilekit chat sample: a Compose chat screen on top of a generated language-model SDK module.
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

rootProject.name = "mobilekit-chat-sample"
include(":app")

// The SDK module `mobilekit generate` wrote. Default: the chat example's
// (examples/smollm2-chat, after `mobilekit build -c examples/smollm2-chat/mobilekit.toml`).
// Another text-generation project: ./gradlew -Pmobilekit.sdkDir=/path/to/build/generate/android ...
// (and change the imports in MainActivity.kt to that SDK's package and class).
val sdkDir = providers.gradleProperty("mobilekit.sdkDir")
    .orElse("../../examples/smollm2-chat/build/generate/android").get()
include(":sdk")
project(":sdk").projectDir = file(sdkDir)
