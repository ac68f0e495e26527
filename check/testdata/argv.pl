#!/usr/bin/perl
# Records how it was run into the file named by its first argument: $0,
# each argument, the real uid and gid, and what descriptors 0 to 2 are.
use strict;
use warnings;

open(my $f, '>', $ARGV[0]) or die "open $ARGV[0]: $!";
print $f "$0\n";
print $f "$_\n" for @ARGV;
my ($gid) = split ' ', $(;
print $f "uid=$< gid=$gid\n";
for my $fd (0 .. 2) {
  my $target = readlink("/proc/self/fd/$fd");
  print $f "fd$fd=" . (defined $target ? $target : "closed") . "\n";
}
close($f) or die;
exit(0);
