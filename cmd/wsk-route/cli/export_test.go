package cli

// WriteWskprops exposes writeWskprops to the black-box tests.
var WriteWskprops = writeWskprops
