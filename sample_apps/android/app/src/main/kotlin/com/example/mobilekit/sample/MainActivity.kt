package com.example.mobilekit.sample

import android.os.Bundle
import android.os.SystemClock
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import com.example.minilm.MiniLMEmbeddingsEmbedder
import com.example.minilm.ModelException
import kotlin.math.sqrt
import kotlinx.coroutines.launch

/**
 * One screen: two sentences, their cosine similarity from the on-device embedder.
 *
 * For a classifier SDK (task = "text-classification") the same screen needs one text field and
 * `model.classifyInBackground(text)`, which returns the labels with their probabilities, most
 * likely first: `labels.joinToString("\n") { "${it.name}: ${"%.3f".format(it.score)}" }`.
 */
class MainActivity : ComponentActivity() {
    private var model: MiniLMEmbeddingsEmbedder? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Cheap: the model is memory-mapped from the APK, not copied.
        val loaded = runCatching { MiniLMEmbeddingsEmbedder(applicationContext) }
        model = loaded.getOrNull()
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) {
                    val current = model
                    if (current == null) {
                        Text("The model could not be loaded: ${loaded.exceptionOrNull()?.message}", Modifier.padding(16.dp))
                    } else {
                        SimilarityScreen(current)
                    }
                }
            }
        }
    }

    override fun onDestroy() {
        model?.close()
        model = null
        super.onDestroy()
    }
}

@Composable
fun SimilarityScreen(model: MiniLMEmbeddingsEmbedder) {
    var first by remember { mutableStateOf("A man is playing a guitar.") }
    var second by remember { mutableStateOf("Someone is making music.") }
    var result by remember { mutableStateOf("") }
    val scope = rememberCoroutineScope()

    Column(Modifier.padding(16.dp).fillMaxWidth(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        OutlinedTextField(first, { first = it }, label = { Text("First text") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(second, { second = it }, label = { Text("Second text") }, modifier = Modifier.fillMaxWidth())
        Button(onClick = {
            scope.launch {
                result = try {
                    val started = SystemClock.elapsedRealtime()
                    val a = model.embedInBackground(first) // off the main thread (Dispatchers.Default)
                    val b = model.embedInBackground(second)
                    val ms = SystemClock.elapsedRealtime() - started
                    "similarity %.3f  (%d dimensions, %d ms for both)".format(cosine(a, b), a.size, ms)
                } catch (e: ModelException) {
                    "error: ${e.message}"
                }
            }
        }) {
            Text("Compare")
        }
        Text(result, style = MaterialTheme.typography.bodyLarge)
    }
}

private fun cosine(a: FloatArray, b: FloatArray): Float {
    var dot = 0f
    var na = 0f
    var nb = 0f
    for (i in a.indices) {
        dot += a[i] * b[i]
        na += a[i] * a[i]
        nb += b[i] * b[i]
    }
    return dot / (sqrt(na) * sqrt(nb))
}
