package com.example.mobilekit.chat

import android.app.Application
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import com.example.smolchat.ChatMessage
import com.example.smolchat.ChatRole
import com.example.smolchat.ChatSession
import com.example.smolchat.GenerationConfig
import com.example.smolchat.PromptTooLongException
import com.example.smolchat.SmolChat
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.onCompletion
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** One screen: a chat with the on-device model, its replies streamed in as they are generated. */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) {
                    ChatScreen(viewModel())
                }
            }
        }
    }
}

/** The model and one chat session; outlives configuration changes, closes the model when the screen goes. */
class ChatViewModel(application: Application) : AndroidViewModel(application) {
    /** The session's messages; while a reply streams in, also the new turn, its reply growing in the last one. */
    var messages by mutableStateOf(emptyList<ChatMessage>())
        private set
    var input by mutableStateOf("")
    var error by mutableStateOf<String?>(null)
        private set
    var generating by mutableStateOf(false)
        private set
    val ready: Boolean get() = session != null

    private var model: SmolChat? = null
    private var session by mutableStateOf<ChatSession?>(null)
    private var job: Job? = null

    init {
        viewModelScope.launch {
            try {
                val loaded = withContext(Dispatchers.IO) { SmolChat.load(application) }
                model = loaded
                session = loaded.newSession()
            } catch (e: Exception) {
                ensureActive()
                error = application.getString(R.string.load_failed, e.message)
            }
        }
    }

    fun send() {
        val session = session ?: return
        val text = input.trim()
        if (text.isEmpty() || generating) return
        input = ""
        error = null
        messages = messages + ChatMessage(ChatRole.USER, text) + ChatMessage(ChatRole.ASSISTANT, "")
        generating = true
        job = viewModelScope.launch {
            session.send(text, REPLY)
                .catch { e -> fail(text, e) }
                .onCompletion {
                    // The session holds the turn as the model saw it: a prompt that did not fit is not in
                    // it, and a stopped reply may run a little past the last piece shown.
                    messages = session.messages
                    generating = false
                }
                .collect { piece ->
                    val reply = messages.last()
                    messages = messages.dropLast(1) + reply.copy(content = reply.content + piece)
                }
        }
    }

    /** The reply so far stays, on screen and in the session: the next message continues the chat. */
    fun stop() {
        job?.cancel()
    }

    fun newChat() {
        viewModelScope.launch {
            // A running reply is recorded, and shown again, when it ends: reset after that, not before.
            job?.cancelAndJoin()
            session?.reset()
            messages = emptyList()
            error = null
        }
    }

    private fun fail(text: String, e: Throwable) {
        if (e is PromptTooLongException) {
            input = text // not sent: give it back to shorten, or to send again in a new chat
            error = getApplication<Application>().getString(R.string.context_full, e.contextLength)
        } else {
            error = e.message ?: e.toString()
        }
    }

    override fun onCleared() {
        model?.close()
    }

    private companion object {
        // The example's context holds 256 tokens, prompt and reply together, so replies stay short.
        // Temperature and top-p are the ones SmolLM2's model card uses.
        val REPLY = GenerationConfig(maxNewTokens = 128, temperature = 0.2, topP = 0.9)
    }
}

@Composable
fun ChatScreen(chat: ChatViewModel) {
    Column(
        Modifier.fillMaxSize().safeDrawingPadding().padding(horizontal = 12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(stringResource(R.string.app_name), Modifier.weight(1f), style = MaterialTheme.typography.titleLarge)
            TextButton(onClick = chat::newChat, enabled = chat.ready) { Text(stringResource(R.string.new_chat)) }
        }

        val listState = rememberLazyListState()
        LaunchedEffect(chat.messages.size) { listState.scrollToItem(0) }
        // Reversed, so the list sticks to its bottom while the newest reply grows.
        LazyColumn(
            Modifier.weight(1f).fillMaxWidth(),
            state = listState,
            reverseLayout = true,
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            items(chat.messages.asReversed()) { MessageBubble(it) }
        }

        val error = chat.error
        when {
            error != null -> Row(verticalAlignment = Alignment.CenterVertically) {
                Text(error, Modifier.weight(1f), color = MaterialTheme.colorScheme.error)
                if (chat.ready) TextButton(onClick = chat::newChat) { Text(stringResource(R.string.new_chat)) }
            }
            !chat.ready -> Text(stringResource(R.string.loading), style = MaterialTheme.typography.bodyMedium)
        }

        Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedTextField(
                chat.input,
                { chat.input = it },
                Modifier.weight(1f),
                placeholder = { Text(stringResource(R.string.message_hint)) },
                maxLines = 5,
            )
            if (chat.generating) {
                Button(onClick = chat::stop) { Text(stringResource(R.string.stop)) }
            } else {
                Button(onClick = chat::send, enabled = chat.ready && chat.input.isNotBlank()) {
                    Text(stringResource(R.string.send))
                }
            }
        }
    }
}

@Composable
private fun MessageBubble(message: ChatMessage) {
    val fromUser = message.role == ChatRole.USER
    Box(Modifier.fillMaxWidth(), contentAlignment = if (fromUser) Alignment.CenterEnd else Alignment.CenterStart) {
        Surface(
            Modifier.padding(start = if (fromUser) 48.dp else 0.dp, end = if (fromUser) 0.dp else 48.dp),
            shape = RoundedCornerShape(16.dp),
            color = if (fromUser) MaterialTheme.colorScheme.primaryContainer else MaterialTheme.colorScheme.surfaceVariant,
        ) {
            Text(message.content.ifEmpty { "…" }, Modifier.padding(horizontal = 12.dp, vertical = 8.dp))
        }
    }
}
