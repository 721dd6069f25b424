package mobilekit.generated

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/**
 * Special and added tokens typed in the text are split out first, as typed or normalized as their
 * options say. A small tokenizer with a token of each kind; the expected ids come from `tokenizers`
 * with the same vocabulary and tokens.
 */
class AddedTokenTest {
    private val specialTokens = listOf("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    private val tokenizer = WordPieceTokenizer(
        specialTokens + listOf("[", "]", "a", "b", "s", "x", "##e", "##p", "##s", "movie", "plot"),
        TokenizerSettings(
            doLowerCase = true,
            stripAccents = true,
            tokenizeChineseChars = true,
            unkToken = "[UNK]",
            clsToken = "[CLS]",
            sepToken = "[SEP]",
            padToken = "[PAD]",
            maxInputCharsPerWord = 100,
            addedTokens = specialTokens.mapIndexed { id, token -> AddedToken(token, id) } + listOf(
                AddedToken("movie", id = 14, singleWord = true),
                AddedToken("Plot", id = 16, stripsLeft = true, stripsRight = true, normalized = true),
                AddedToken("<x>", id = 17, stripsLeft = true),
                AddedToken("<x>x", id = 18),
            ),
        ),
    )

    private fun ids(text: String): List<Int> = tokenizer.tokenIds(text, Int.MAX_VALUE).toList()

    @Test
    fun specialTokensAreMatchedOnlyAsTyped() {
        assertEquals(listOf(1, 3, 1), ids("hello [SEP] world"))
        assertEquals(listOf(2, 4, 10), ids("[CLS][MASK]x"))
        assertEquals(listOf(7, 1, 8), ids("a[UNK]b"))
        assertEquals(listOf(5, 3, 6), ids("[[SEP]]"))
        assertEquals(listOf("[", "s", "##e", "##p", "]"), tokenizer.tokenize("[sep]"))
        assertEquals(emptyList<Int>(), ids(""))
    }

    @Test
    fun singleWordTokensNeedNoWordCharacterAround() {
        assertEquals(listOf(7, 14, 1, 1, 14, 13), ids("a movie, amovie movies"))
        assertEquals(listOf(14, 1, 14, 1, 1, 1, 14, 1), ids("movie_ movie\u0301 \u00E9movie movie1 (movie)"))
        assertEquals(listOf(3, 14), ids("[SEP]movie"))
    }

    @Test
    fun normalizedTokensMatchTheNormalizedText() {
        assertEquals(listOf(10, 16, 8, 10, 16, 8), ids("x  PLOT  b xplotb"))
        assertEquals(listOf(7, 16, 8, 16), ids("a\u00A0\u00A0PLOT\tb\u3000plot"))
        assertEquals(listOf(3, 16), ids("[SEP]plot"))
        // Outside the vocabulary: the content stands for it.
        assertEquals(listOf("x", "Plot", "b"), tokenizer.tokenize("x  PLOT  b"))
    }

    @Test
    fun strippedWhiteSpaceGoesWithTheTokenAndTheLongestMatchWins() {
        assertEquals(listOf("a", "<x>", "b", "<x>x"), tokenizer.tokenize("a  <x>b <x>x"))
        assertEquals(listOf(7, 17, 8, 18), ids("a  <x>b <x>x"))
        assertEquals(listOf(17, 17), ids("<x><x>"))
        assertEquals(listOf(7, 17), ids("a\u2003<x>"))
        assertEquals(listOf(10, 18), ids("x\n<x>x"))
    }

    @Test
    fun addedTokensAreTruncatedLikeAnyOther() {
        assertArrayEquals(intArrayOf(2, 2, 4, 10, 3, 0), tokenizer.encode("[CLS][MASK]x", 6).inputIds)
        assertArrayEquals(intArrayOf(2, 2, 4, 3), tokenizer.encode("[CLS][MASK]x", 4).inputIds)
    }
}
